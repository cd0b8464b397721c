import { expect } from 'chai';
import { escapeHtml, html, safeUrl } from '../../services/token/views/html.ts';

describe('token service: HTML templates escape every value', () => {
  const hostile = `<script>alert(1)</script>"'\`&`;

  it('escapes interpolated text and attribute values', () => {
    const page = html`<p title="${hostile}">${hostile}</p>`.toString();
    expect(page).not.to.include('<script>');
    expect(page).to.equal(
      '<p title="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&#96;&amp;">&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&#96;&amp;</p>',
    );
  });

  it('inserts nested html results as markup, and escapes arrays element by element', () => {
    const items = [hostile, 'b'];
    const page = html`<ul>${items.map((item) => html`<li>${item}</li>`)}</ul>${[hostile]}`.toString();
    expect(page).to.equal(`<ul><li>${escapeHtml(hostile)}</li><li>b</li></ul>${escapeHtml(hostile)}`);
  });

  it('renders nothing for undefined, null and false, and the text of numbers', () => {
    expect(html`${undefined}${null}${false}${0}${1.5}`.toString()).to.equal('01.5');
  });

  it('never treats anything but an html result as markup, even an object that looks like one', () => {
    const fake = { toString: () => '<b>x</b>' };
    expect(html`${fake}`.toString()).to.equal('&lt;b&gt;x&lt;/b&gt;');
    expect(html`${html`<b>x</b>`}`.toString()).to.equal('<b>x</b>');
  });

  it('allows only http(s) URLs and same-origin paths in URL attributes', () => {
    expect(safeUrl('/login?x=1')).to.equal('/login?x=1');
    expect(safeUrl('https://app.example/cb')).to.equal('https://app.example/cb');
    for (const bad of ['javascript:alert(1)', 'data:text/html,x', '//evil.example', '/\\evil.example', 'vbscript:x', '']) {
      expect(() => safeUrl(bad), bad).to.throw();
    }
  });
});
